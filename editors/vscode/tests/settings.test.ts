// settings.ts and package.json against the settings generated from the server's table
// (src/settings.generated.ts; `cargo test -p dllm-ls --test settings_table` regenerates both
// and fails when either had drifted from server/src/config/table.rs).
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { describe, test } from 'node:test';

import {
  affectedKeys,
  CLIENT_KEYS,
  expandHome,
  LANGUAGE_IDS,
  RELOAD_KEYS,
  RESTART_KEYS,
  SERVER_DEFAULTS,
  SERVER_KEYS,
  serverEnv,
  toServerSettings,
} from '../src/settings';
import { BLANK_MEANS_NULL, ZERO_MEANS_NULL } from '../src/settings.generated';
import { packageJson, vscodeGetter } from './paths';

const properties = packageJson().contributes.configuration.properties;

describe('settings', () => {
  test('package.json contributes one setting per server key, plus the client settings, nothing else', () => {
    const expected = [...SERVER_KEYS, ...CLIENT_KEYS].map((k) => `dllm.${k}`).sort();
    assert.deepEqual(Object.keys(properties).sort(), expected);
    for (const [key, p] of Object.entries(properties)) {
      assert.ok(typeof p.markdownDescription === 'string' && p.markdownDescription.length > 20, `${key} has a description`);
      assert.ok('default' in p, `${key} has a default`);
    }
  });

  test('the contributed defaults are the server defaults', () => {
    assert.deepEqual(toServerSettings(vscodeGetter()), SERVER_DEFAULTS);
    assert.equal(SERVER_DEFAULTS.model, null);
    assert.equal(properties['dllm.model'].default, '', 'the settings UI shows a blank, not null');
  });

  test('what stands for null in the settings UI is allowed by package.json and read back as null', () => {
    for (const key of ZERO_MEANS_NULL) {
      assert.equal(properties[`dllm.${key}`].minimum, 0, `${key}: 0 is allowed`);
      assert.equal(toServerSettings(vscodeGetter({ [key]: 0 }))[key], null, key);
    }
    for (const key of BLANK_MEANS_NULL) {
      assert.equal(toServerSettings(vscodeGetter({ [key]: '  ' }))[key], null, key);
    }
  });

  test('restart and reload keys are settings of package.json', () => {
    for (const key of [...RESTART_KEYS, ...RELOAD_KEYS]) {
      assert.ok(`dllm.${key}` in properties, key);
    }
    assert.ok(RELOAD_KEYS.includes('model'));
    assert.ok((RESTART_KEYS as readonly string[]).includes('serverPath'));
  });

  test("the extension's languages are the server's (grammars/src/language.rs)", () => {
    const items = properties['dllm.languages'].items as { enum: string[] };
    assert.deepEqual(items.enum, [...LANGUAGE_IDS]);
    assert.deepEqual(properties['dllm.languages'].default, []);
  });

  test('values pass through, with blanks and zeros meaning "off"', () => {
    const s = toServerSettings(
      vscodeGetter({
        model: '  /models/dream  ',
        steps: 8,
        threshold: null,
        blockLength: 0,
        languages: ['rust', 'go'],
        holeMarkers: ['XXX', 'later!'],
        temperature: 0.5,
        seed: 7,
      }),
    );
    assert.equal(s.model, '/models/dream');
    assert.equal(s.steps, 8);
    assert.equal(s.threshold, null);
    assert.equal(s.blockLength, null);
    assert.deepEqual(s.languages, ['rust', 'go']);
    assert.deepEqual(s.holeMarkers, ['XXX', 'later!']);
    assert.equal(s.temperature, 0.5);
    assert.equal(s.seed, 7);
    assert.equal(toServerSettings(vscodeGetter({ model: '' })).model, null);
    assert.equal(toServerSettings(vscodeGetter({ steps: 0 })).steps, null);
    assert.equal(toServerSettings(vscodeGetter({ model: '~/ckpt' })).model, `${os.homedir()}/ckpt`);
    assert.equal(toServerSettings(vscodeGetter({ model: 'owner/name@rev' })).model, 'owner/name@rev');
    // An unset value (undefined) is the server default; client settings never reach the server.
    assert.deepEqual(toServerSettings(() => undefined), SERVER_DEFAULTS);
    assert.deepEqual(Object.keys(toServerSettings(vscodeGetter({ serverPath: '/x' }))).sort(), [...SERVER_KEYS].sort());
    // Bad values are the server's to report (it keeps the old value and warns): passed as they are.
    assert.equal(toServerSettings(vscodeGetter({ steps: -3 })).steps, -3);
  });

  test('expandHome', () => {
    assert.equal(expandHome('~/a/b', '/home/u'), '/home/u/a/b');
    assert.equal(expandHome('~', '/home/u'), '/home/u');
    assert.equal(expandHome('/abs/~x', '/home/u'), '/abs/~x');
    assert.equal(expandHome('~other/x', '/home/u'), '~other/x');
  });

  test('affectedKeys tells didChangeConfiguration keys from restart keys', () => {
    const touched = (keys: string[]) => (s: string) => keys.includes(s);
    assert.deepEqual(affectedKeys(touched(['dllm', 'dllm.model'])), { server: ['model'], restart: [] });
    assert.deepEqual(affectedKeys(touched(['dllm', 'dllm.serverPath'])), { server: [], restart: ['serverPath'] });
    assert.deepEqual(affectedKeys(touched(['dllm', 'dllm.logLevel', 'dllm.topP'])), {
      server: ['topP', 'logLevel'],
      restart: ['logLevel'],
    });
    assert.deepEqual(affectedKeys(touched(['dllm', 'dllm.inlineCompletion.enabled'])), { server: [], restart: [] });
  });

  test('serverEnv: DLLM_LOG from logLevel unless the user set one', () => {
    const env = serverEnv({ PATH: '/bin', EMPTY: undefined }, { logLevel: 'debug' });
    assert.deepEqual(env, { PATH: '/bin', DLLM_LOG: 'debug' });
    assert.equal(serverEnv({ DLLM_LOG: 'trace' }, { logLevel: 'warn' }).DLLM_LOG, 'trace');
  });
});

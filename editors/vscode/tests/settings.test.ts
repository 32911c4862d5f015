// settings.ts against the server's own source (server/src/config.rs) and package.json.
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { describe, test } from 'node:test';

import {
  affectedKeys,
  CLIENT_KEYS,
  expandHome,
  SERVER_DEFAULTS,
  SERVER_KEYS,
  serverEnv,
  toServerSettings,
} from '../src/settings';
import { packageJson, readRepoFile, vscodeGetter } from './paths';

const configRs = readRepoFile('server/src/config.rs');
const properties = packageJson().contributes.configuration.properties;

describe('settings', () => {
  test('the server keys are exactly KEYS in server/src/config.rs', () => {
    const block = /pub const KEYS: &\[&str\] = &\[([\s\S]*?)\];/.exec(configRs);
    assert.ok(block, 'KEYS not found in config.rs');
    const keys = [...block[1].matchAll(/"([A-Za-z0-9]+)"/g)].map((m) => m[1]);
    assert.deepEqual([...SERVER_KEYS].sort(), keys.sort());
    // And each has a match arm in Config::apply_key.
    for (const key of SERVER_KEYS) {
      assert.match(configRs, new RegExp(`"${key}" =>`), key);
    }
  });

  test('package.json contributes one setting per server key, plus the client settings, nothing else', () => {
    const expected = [...SERVER_KEYS, ...CLIENT_KEYS].map((k) => `dllm.${k}`).sort();
    assert.deepEqual(Object.keys(properties).sort(), expected);
    for (const [key, p] of Object.entries(properties)) {
      assert.ok(typeof p.markdownDescription === 'string' && p.markdownDescription.length > 20, `${key} has a description`);
      assert.ok('default' in p, `${key} has a default`);
    }
  });

  test('the contributed defaults are the server defaults (Config::default in config.rs)', () => {
    assert.deepEqual(toServerSettings(vscodeGetter()), SERVER_DEFAULTS);
    const rustDefault = (field: string) => {
      const m = new RegExp(`\\b${field}: ([^,\\n]+),`).exec(configRs.slice(configRs.indexOf('impl Default for Config')));
      assert.ok(m, field);
      return m[1].trim();
    };
    assert.equal(rustDefault('max_tokens_inline'), String(SERVER_DEFAULTS.maxTokensInline));
    assert.equal(rustDefault('max_tokens_block'), String(SERVER_DEFAULTS.maxTokensBlock));
    assert.equal(rustDefault('context_tokens'), String(SERVER_DEFAULTS.contextTokens));
    assert.equal(rustDefault('repair_rounds'), String(SERVER_DEFAULTS.repairRounds));
    assert.equal(rustDefault('dtype'), `"${SERVER_DEFAULTS.dtype}".into()`);
    assert.equal(rustDefault('bf16_products'), String(SERVER_DEFAULTS.bf16Products));
    assert.equal(rustDefault('log_level'), `"${SERVER_DEFAULTS.logLevel}".into()`);
    assert.equal(rustDefault('threshold'), `Some(${SERVER_DEFAULTS.threshold})`);
    assert.equal(rustDefault('cache_refresh'), `Some(${SERVER_DEFAULTS.cacheRefresh})`);
    assert.equal(rustDefault('refresh_radius'), `Some(${SERVER_DEFAULTS.refreshRadius})`);
    assert.equal(rustDefault('block_length'), `Some(${SERVER_DEFAULTS.blockLength})`);
    assert.equal(rustDefault('inline_block_length'), `Some(${SERVER_DEFAULTS.inlineBlockLength})`);
    assert.equal(rustDefault('model'), 'None');
    assert.equal(SERVER_DEFAULTS.model, null);
  });

  test('enums and bounds in package.json agree with what the server accepts', () => {
    const enumOf = (key: string) => properties[`dllm.${key}`].enum as string[];
    assert.deepEqual(enumOf('dtype').sort(), ['bf16', 'f32']);
    assert.match(configRs, /matches!\(\*d, "f32" \| "bf16"\)/);
    const levels = /matches!\(\*l, ((?:"\w+"(?: \| )?)+)\)/.exec(configRs);
    assert.ok(levels);
    assert.deepEqual(enumOf('logLevel'), [...levels[1].matchAll(/"(\w+)"/g)].map((m) => m[1]));
    const options = readRepoFile('models/src/sampler/options.rs');
    const names = [...options.matchAll(/Strategy::\w+ => "(\w+)"/g)].map((m) => m[1]);
    assert.equal(names.length, 5);
    assert.deepEqual(enumOf('strategy').sort(), names.sort());
    // `"maxTokensInline" => self.max_tokens_inline = positive(v, 512)?` and the like.
    for (const m of configRs.matchAll(/"(\w+)" => [^\n]*?positive\(v, ([^)]+)\)/g)) {
      // A bound may be a named constant of config.rs.
      const constant = new RegExp(`const ${m[2]}: \\w+ = ([^;]+);`).exec(configRs);
      const bound = constant ? constant[1] : m[2];
      const max = bound === '1 << 20' ? 1 << 20 : Number(bound);
      assert.equal(properties[`dllm.${m[1]}`].maximum, max, `${m[1]} maximum`);
    }
    assert.equal(properties['dllm.repairRounds'].maximum, 8);
    assert.equal(properties['dllm.threshold'].maximum, 1);
    assert.equal(properties['dllm.temperature'].maximum, 10);
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

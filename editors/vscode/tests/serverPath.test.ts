// Finding the server binary: on real files in a temporary directory.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { INSTALL_HINT, isExecutableFile, resolveServerPath, serverLaunch, whichSync } from '../src/serverPath';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dllm-serverpath-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function file(rel: string, mode: number): string {
  const p = path.join(tmp, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, '#!/bin/sh\n');
  fs.chmodSync(p, mode);
  return p;
}

const posix = process.platform !== 'win32';

describe('serverPath', { skip: !posix && 'POSIX permissions' }, () => {
  const exe = file('bin-a/dllm-ls', 0o755);
  file('bin-noexec/dllm-ls', 0o644);
  fs.mkdirSync(path.join(tmp, 'bin-dir/dllm-ls'), { recursive: true });
  const other = file('tools/my-dllm', 0o755);

  test('isExecutableFile: executable files only', () => {
    assert.equal(isExecutableFile(exe), true);
    assert.equal(isExecutableFile(path.join(tmp, 'bin-noexec/dllm-ls')), false);
    assert.equal(isExecutableFile(path.join(tmp, 'bin-dir/dllm-ls')), false);
    assert.equal(isExecutableFile(path.join(tmp, 'nothing')), false);
  });

  test('PATH lookup skips non-executables and directories, first match wins', () => {
    const pathVar = ['', path.join(tmp, 'bin-noexec'), path.join(tmp, 'bin-dir'), path.join(tmp, 'bin-a')].join(':');
    assert.equal(whichSync('dllm-ls', { pathVar }), exe);
    assert.deepEqual(resolveServerPath({ pathVar }), { ok: true, path: exe, source: 'PATH' });
  });

  test('nothing found: a message naming the binary and the install step', () => {
    const r = resolveServerPath({ pathVar: path.join(tmp, 'bin-noexec') });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.message.includes('`dllm-ls` was not found on PATH'), JSON.stringify(r));
    assert.ok(!r.ok && r.message.includes('cargo install --path server'));
    assert.ok(!r.ok && r.message.includes('dllm.serverPath'));
    assert.ok(INSTALL_HINT.includes('cargo install --path server'));
  });

  test('dllm.serverPath wins over PATH', () => {
    const pathVar = path.join(tmp, 'bin-a');
    assert.deepEqual(resolveServerPath({ configured: other, pathVar }), { ok: true, path: other, source: 'setting' });
    // Surrounding blanks are ignored; an all-blank setting is "unset".
    assert.deepEqual(resolveServerPath({ configured: `  ${other} `, pathVar }), { ok: true, path: other, source: 'setting' });
    assert.deepEqual(resolveServerPath({ configured: '   ', pathVar }), { ok: true, path: exe, source: 'PATH' });
  });

  test('dllm.serverPath: ~, relative to the workspace, bare names on PATH', () => {
    assert.deepEqual(resolveServerPath({ configured: '~/tools/my-dllm', home: tmp }), {
      ok: true,
      path: other,
      source: 'setting',
    });
    assert.deepEqual(resolveServerPath({ configured: 'tools/my-dllm', workspaceFolder: tmp }), {
      ok: true,
      path: other,
      source: 'setting',
    });
    assert.deepEqual(resolveServerPath({ configured: 'my-dllm', pathVar: path.join(tmp, 'tools') }), {
      ok: true,
      path: other,
      source: 'setting',
    });
  });

  test('a dllm.serverPath that does not work is reported, not replaced by PATH', () => {
    const pathVar = path.join(tmp, 'bin-a');
    const missing = resolveServerPath({ configured: path.join(tmp, 'nope/dllm-ls'), pathVar });
    assert.equal(missing.ok, false);
    assert.ok(!missing.ok && missing.message.includes('is not an executable file'), JSON.stringify(missing));
    const notExec = resolveServerPath({ configured: path.join(tmp, 'bin-noexec/dllm-ls'), pathVar });
    assert.equal(notExec.ok, false);
    const bare = resolveServerPath({ configured: 'no-such-dllm', pathVar });
    assert.ok(!bare.ok && bare.message.includes('"no-such-dllm", which is not found on PATH'), JSON.stringify(bare));
  });

  test('Windows: PATHEXT endings and ; separators', () => {
    const seen: string[] = [];
    const isExecutable = (f: string) => {
      seen.push(f);
      return f === 'C:\\tools\\dllm-ls.exe';
    };
    const r = resolveServerPath({ platform: 'win32', pathVar: 'C:\\bin;C:\\tools', pathExt: '.COM;.EXE', isExecutable });
    assert.deepEqual(r, { ok: true, path: 'C:\\tools\\dllm-ls.exe', source: 'PATH' });
    assert.ok(seen.includes('C:\\bin\\dllm-ls.com'));
  });

  test('serverLaunch: stdio, the given environment', () => {
    assert.deepEqual(serverLaunch('/x/dllm-ls', { DLLM_LOG: 'info' }), {
      command: '/x/dllm-ls',
      args: ['--stdio'],
      env: { DLLM_LOG: 'info' },
    });
  });
});

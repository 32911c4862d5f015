// The status bar model: progress and dllm.status in, text and tooltip out.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { StatusModel } from '../src/status';

describe('status model', () => {
  test('start, load, ready, busy, last time', () => {
    const s = new StatusModel();
    assert.equal(s.view().text, '$(circle-slash) dllm');
    s.starting();
    assert.equal(s.view().text, '$(loading~spin) dllm');
    assert.equal(s.settling(), true);
    s.progress({ kind: 'begin', title: 'dllm-ls', message: 'loading /models/dream' });
    assert.equal(s.phase, 'loading');
    assert.equal(s.view().text, '$(loading~spin) dllm: loading');
    assert.match(s.view().tooltip, /loading \/models\/dream/);
    s.progress({ kind: 'end', message: 'ready: Dream, 2 layers' });
    assert.equal(s.phase, 'ready');
    assert.equal(s.detail, 'Dream, 2 layers');
    assert.equal(s.settling(), false);
    assert.equal(s.view().text, '$(check) dllm');
    assert.match(s.view().tooltip, /No inline completion yet/);
    s.begin();
    assert.equal(s.view().text, '$(sync~spin) dllm');
    s.end(612.4);
    assert.equal(s.view().text, '$(check) dllm 612 ms');
    assert.match(s.view().tooltip, /Last inline completion: 612 ms/);
    // A command (no time) keeps the last completion's time.
    s.begin();
    s.begin();
    assert.equal(s.view().text, '$(sync~spin) dllm 612 ms');
    s.end();
    s.end();
    s.end();
    assert.equal(s.busy, 0);
    assert.equal(s.view().text, '$(check) dllm 612 ms');
  });

  test('a failed load, then dllm.status, then no model at all', () => {
    const s = new StatusModel();
    s.starting();
    s.progress({ kind: 'begin', message: 'loading /nope' });
    s.progress({ kind: 'end', message: 'model failed to load' });
    assert.equal(s.phase, 'failed');
    s.modelState({ state: 'failed', error: 'missing file /nope/config.json' });
    const v = s.view();
    assert.equal(v.text, '$(error) dllm: no model');
    assert.equal(v.severity, 'error');
    assert.match(v.tooltip, /missing file \/nope\/config.json/);
    assert.match(v.tooltip, /dllm\.model/);
    s.modelState({ state: 'not_loaded' });
    assert.equal(s.view().severity, 'warning');
    s.modelState({ state: 'loading', model: '/m' });
    assert.equal(s.settling(), true);
    s.modelState({ state: 'unknown', raw: 1 });
    assert.equal(s.phase, 'loading', 'an unknown answer changes nothing');
    s.modelState({ state: 'ready', model: 'm' });
    assert.equal(s.view().text, '$(check) dllm');
  });

  test('a load shows its percentage, from work-done progress and from dllm.status', () => {
    const s = new StatusModel();
    s.starting();
    s.progress({ kind: 'begin', message: 'loading owner/model', percentage: 0 });
    assert.equal(s.view().text, '$(loading~spin) dllm: loading 0%');
    s.progress({ kind: 'report', message: 'downloading model.safetensors: 530 of 1261 MB', percentage: 42 });
    assert.equal(s.view().text, '$(loading~spin) dllm: loading 42%');
    assert.match(s.view().tooltip, /downloading model\.safetensors: 530 of 1261 MB/);
    s.modelState({
      state: 'loading',
      model: 'owner/model',
      progress: { phase: 'loading', percent: 75, doneMb: 946, totalMb: 1261 },
    });
    assert.equal(s.view().text, '$(loading~spin) dllm: loading 75%');
    assert.match(s.view().tooltip, /loading owner\/model: reading the weights: 946 of 1261 MB \(75%\)/);
    s.progress({ kind: 'end', message: 'ready: Dream' });
    assert.equal(s.percent, undefined);
    assert.equal(s.view().text, '$(check) dllm');
  });

  test('stopped with a reason is an error', () => {
    const s = new StatusModel();
    s.stopped('server binary not found');
    assert.equal(s.view().severity, 'error');
    assert.match(s.view().tooltip, /server binary not found/);
  });

  test('the tooltip says whether next-edit suggestions are on, once dllm.status said', () => {
    const s = new StatusModel();
    s.modelState({ state: 'ready', model: 'm' });
    assert.doesNotMatch(s.view().tooltip, /Next-edit/);
    s.nextEditEnabled(true);
    assert.match(s.view().tooltip, /\nNext-edit suggestions: on\.\n/);
    s.nextEditEnabled(false);
    assert.match(s.view().tooltip, /Next-edit suggestions: off \(dllm\.nextEditSuggestions\)\./);
    assert.equal(s.view().text, '$(check) dllm');
  });
});

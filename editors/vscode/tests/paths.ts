// Where things are, from the compiled tests in out/tests/.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** editors/vscode */
export const EXTENSION_ROOT = path.resolve(__dirname, '..', '..');
/** The repository root. */
export const REPO_ROOT = path.resolve(EXTENSION_ROOT, '..', '..');

export function readRepoFile(relative: string): string {
  return fs.readFileSync(path.join(REPO_ROOT, relative), 'utf8');
}

export interface PackageJson {
  name: string;
  main: string;
  activationEvents: string[];
  contributes: {
    commands: { command: string; title: string; category?: string }[];
    menus: Record<string, { command: string; when?: string; group?: string }[]>;
    configuration: { properties: Record<string, Record<string, unknown> & { default?: unknown }> };
  };
  scripts: Record<string, string>;
}

export function packageJson(): PackageJson {
  return JSON.parse(fs.readFileSync(path.join(EXTENSION_ROOT, 'package.json'), 'utf8')) as PackageJson;
}

/** Every `dllm.*` setting at its contributed default. */
export function contributedDefaults(): Record<string, unknown> {
  const props = packageJson().contributes.configuration.properties;
  return Object.fromEntries(Object.entries(props).map(([k, p]) => [k, p.default]));
}

/** A getter like `workspace.getConfiguration('dllm').get`: the contributed default unless overridden. */
export function vscodeGetter(overrides: Record<string, unknown> = {}): (key: string) => unknown {
  const properties = packageJson().contributes.configuration.properties;
  return (key) => (key in overrides ? overrides[key] : properties[`dllm.${key}`]?.default);
}

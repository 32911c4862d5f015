// Bundles the extension and vscode-languageclient into dist/extension.js, so the .vsix needs no
// node_modules (`vsce package --no-dependencies`). `vscode` is provided by VS Code at run time.
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');

await esbuild.build({
  entryPoints: ['src/extension.ts'],
  bundle: true,
  outfile: 'dist/extension.js',
  external: ['vscode'],
  format: 'cjs',
  platform: 'node',
  target: 'node18',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
});

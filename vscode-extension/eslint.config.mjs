// ESLint: typescript-eslint's type-checked rules over the sources and tests.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.vscode-test-web/**', 'test-artifacts/**'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.strictTypeChecked, tseslint.configs.stylisticTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
      eqeqeq: 'error',
      'no-console': 'error',
    },
  },
  {
    // Code that also runs in the browser must not reach for Node.
    files: ['src/common/**/*.ts', 'src/web/**/*.ts', 'src/webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'vscode-languageclient/node', 'fs', 'path', 'child_process', 'os', 'http', 'https'], message: 'web code cannot use Node modules' }] }],
    },
  },
  {
    // The webview has no vscode module: it talks to the host by postMessage only.
    files: ['src/webview/**/*.ts', 'src/common/panel/messages.ts', 'src/common/panel/state.ts', 'src/common/runs/*.ts', 'src/common/daemon/*.ts', 'src/common/diffs/patch.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'keep this module free of the vscode API' }], patterns: [{ group: ['node:*'], message: 'web code cannot use Node modules' }] }] },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', fetch: 'readonly' } },
  },
  {
    // Functions these tests hand to Playwright run in the page.
    files: ['test/web/**/*.mjs'],
    languageOptions: { globals: { document: 'readonly' } },
  },
);

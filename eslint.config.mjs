// ESLint (flat config) with typescript-eslint's type-aware rules over src, test, bench, scripts and
// examples (`npm run lint`). Rules turned off carry the reason on their line.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'build-*/**', 'node_modules/**', 'docs/api/**', 'src/torch/generated/**', 'coverage/**', 'runs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The addon's objects and ATen's boxed results are untyped at the boundary by nature; `any` is confined there.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // Unused values are often kept on purpose when destructuring a record apart (`const { a, ...rest }`).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Template literals format numbers and nullable values deliberately in messages.
      '@typescript-eslint/restrict-template-expressions': 'off',
      // Async functions keep their Promise signature with nothing to await: stand-ins for async APIs, suite runners, async scope callbacks under test.
      '@typescript-eslint/require-await': 'off',
      // Unions such as `DType | DeviceLike` and `'cpu' | 'cuda' | string` name the accepted forms for readers and the docs, though string absorbs them.
      '@typescript-eslint/no-redundant-type-constituents': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    // Plain Node scripts: outside the TypeScript project, so without type information.
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly' },
    },
    // Node scripts load their dependencies with require().
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
);

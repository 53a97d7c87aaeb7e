// Type-aware linting. The workflow sandbox rule mirrors Temporal's samples: workflow code is
// deterministic and does no I/O, so Node built-ins, the model SDK, the database client and the
// API never enter src/workflows.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'src/generated/', '.tools/', '.data/', 'dist/', 'bench/results/', 'reports/', '.stryker-tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.mjs', 'stryker.config.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'Workflow code is deterministic: no Node built-ins. Do I/O in an activity.' },
            { group: ['openai', 'openai/*'], message: 'Model calls belong in activities.' },
            { group: ['@prisma/*', 'prisma', 'pg', '**/generated/prisma/**', '**/db/**'], message: 'Database access belongs in activities.' },
            { group: ['**/api', '**/api/**'], message: 'Workflows do not depend on the API.' },
            { group: ['ioredis', 'pino', 'express'], message: 'I/O libraries belong in activities or the API.' },
            { group: ['**/activities', '**/activities/**'], allowTypeImports: true, message: 'Workflows see activities as types only: proxyActivities<Activities>.' },
          ],
          paths: ['fs', 'path', 'http', 'https', 'net', 'crypto', 'child_process', 'os', 'dns', 'tls', 'zlib', 'stream', 'events', 'worker_threads', 'process', 'timers'].map((name) => ({
            name,
            message: 'Workflow code is deterministic: no Node built-ins. Do I/O in an activity.',
          })),
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-expressions': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // A CommonJS preload for Stryker (patches require resolution), outside the TypeScript project.
    files: ['scripts/stryker/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly' }, parserOptions: { projectService: false, project: false } },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Reads Stryker's JSON report (untyped JSON) and prints a table.
    files: ['scripts/stryker/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { sourceType: 'module', globals: { console: 'readonly' }, parserOptions: { projectService: false, project: false } },
  },
);

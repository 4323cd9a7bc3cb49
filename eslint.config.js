import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', '.paybound/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: ['vitest.config.ts'] }, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
    },
  },
  {
    // The domain is pure: no framework, database, broker or chain client may leak into it.
    files: ['libs/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['@nestjs/*', 'pg', 'kafkajs', 'viem', 'viem/*', 'node:*', 'express'], message: 'The domain is pure: no I/O or framework imports.' },
        { group: ['**/eventstore/**', '**/apps/**'], message: 'The domain does not depend on adapters.' },
      ] }],
      'no-restricted-globals': ['error', { name: 'crypto', message: 'Ids arrive in the command.' }],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'Time arrives in the command.' }, { object: 'Math', property: 'random', message: 'Ids arrive in the command.' }],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Time arrives in the command.' }],
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);

// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Layers (arrows point inward): hosts use jobs, adapters and engine; jobs use adapters and engine;
 * adapters use engine types; the engine uses only errors.ts. Hosts other than the CLI (the
 * composition root) import no other host. Each rule is a regular expression over the import
 * path, checked for static imports, re-exports and dynamic `import()` alike.
 */
const UP = String.raw`^(?:\.\./)+`;
/**
 * Outside the engine, what fails is a ThumbnailerError with a code of the catalogue (src/errors.ts),
 * never a bare Error a user would see as E_INTERNAL.
 */
const CODED_ERRORS = [
  "NewExpression[callee.name='Error']",
  "CallExpression[callee.name='Error']",
  "ClassDeclaration[superClass.name='Error']",
].map((selector) => ({
  selector,
  message: 'Throw a ThumbnailerError with a code of the catalogue (src/errors.ts), not a bare Error.',
}));
const layerRules = [
  {
    files: ['src/engine/**/*.ts'],
    forbidden: String.raw`${UP}(?!errors\.js$)[^/]+(?:/|\.js$)`,
    message: 'The engine imports only itself and errors.ts: no adapter, job, host, deploy or config code.',
  },
  {
    files: ['src/adapters/**/*.ts'],
    forbidden: String.raw`${UP}(?:hosts|jobs|deploy)/`,
    message: 'Adapters import the engine, errors and config only: never jobs, hosts or deploy.',
  },
  {
    files: ['src/jobs/**/*.ts'],
    forbidden: String.raw`${UP}(?:hosts|deploy)/`,
    message: 'The job layer is used by hosts; it never imports one (or deploy code).',
  },
  {
    files: ['src/hosts/worker/**/*.ts'],
    forbidden: String.raw`${UP}(?:hosts/)?(?:cli|http|functions)/|${UP}deploy/`,
    message: 'The worker host imports no other host: the CLI wires hosts together.',
  },
  {
    files: ['src/hosts/http/**/*.ts'],
    forbidden: String.raw`${UP}(?:hosts/)?(?:cli|worker|functions)/|${UP}deploy/`,
    message: 'The HTTP host imports no other host: shared code lives in src/jobs.',
  },
  {
    files: ['src/hosts/functions/**/*.ts'],
    forbidden: String.raw`${UP}(?:hosts/)?(?:cli|worker|http)/|${UP}deploy/`,
    message: 'The Functions host imports no other host: shared code lives in src/jobs.',
  },
  {
    files: ['src/deploy/**/*.ts'],
    forbidden: String.raw`${UP}(?:hosts|jobs|adapters|engine)/`,
    message: 'Deploy code imports errors and config only.',
    // A setting's variable is named once, in src/config.ts: the templates take it from there (ENV).
    syntax: [
      String.raw`Literal[value=/THUMBNAILER_|AzureWebJobs/]`,
      String.raw`TemplateElement[value.raw=/THUMBNAILER_|AzureWebJobs/]`,
    ].map((selector) => ({
      selector,
      message: 'Name a setting through ENV from src/config.ts, not with a literal of its own.',
    })),
  },
  {
    // The shared modules: every file directly under src/ (errors, config, token, logger).
    files: ['src/*.ts'],
    forbidden: String.raw`^\./(?!errors\.js$)`,
    message: 'Shared modules import nothing else from src (errors.ts excepted).',
  },
].map(({ files, forbidden, message, syntax = [] }) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns: [{ regex: forbidden, message }] }],
    'no-restricted-syntax': [
      'error',
      { selector: `ImportExpression[source.value=/${forbidden.replaceAll('/', '\\/')}/]`, message },
      ...syntax,
      ...(files.some((f) => f.startsWith('src/engine/')) ? [] : CODED_ERRORS),
    ],
  },
}));

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      '.cache/',
      '.thumbnailer/',
      'test-artifacts/',
      'bench/.media/',
      '.fuzz/',
      'fuzz/corpus/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layerRules,
  // The CLI may import every layer (it is the composition root), but fails with coded errors too.
  { files: ['src/hosts/cli/**/*.ts'], rules: { 'no-restricted-syntax': ['error', ...CODED_ERRORS] } },
  {
    // The engine reads as named steps: a function past 120 lines is split into the steps it holds.
    files: ['src/engine/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 120, IIFEs: true }] },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // The dashboard's script runs in the browser.
    files: ['src/hosts/http/public/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'sessionStorage',
          'fetch',
          'Headers',
          'XMLHttpRequest',
          'EventSource',
          'Image',
          'requestAnimationFrame',
          'setTimeout',
          'clearTimeout',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);

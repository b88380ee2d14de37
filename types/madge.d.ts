// madge ships no type declarations; test/unit/architecture.test.ts types what it uses.
declare module 'madge';

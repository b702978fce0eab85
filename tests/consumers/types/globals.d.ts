// Node globals that deno-example.ts uses (`process.version`, `process.argv`, `require`), declared
// here so the check needs no @types/node. Deno's own global is declared by the example itself.
declare const process: any;
declare const require: any;

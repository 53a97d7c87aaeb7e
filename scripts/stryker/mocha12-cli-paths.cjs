/*
 * Preloaded into every Stryker process by `npm run test:mutation` (NODE_OPTIONS=--require).
 * @stryker-mutator/mocha-runner 10.1.1 (the latest) requires Mocha's CLI internals without an
 * extension (`mocha/lib/cli/run-helpers`, `options`, `collect-files`); Mocha 12 renamed them to
 * `.cjs`, so the plugin fails to load. This resolves those three paths to their `.cjs` files and
 * touches nothing else. Delete it once stryker-js#6205 ("load Mocha cli internals regardless of
 * file extension") is released.
 */
const Module = require('node:module');
const fs = require('node:fs');

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (typeof request === 'string' && /[\\/]mocha[\\/]lib[\\/]cli[\\/](run-helpers|options|collect-files)$/.test(request) && fs.existsSync(`${request}.cjs`)) {
    return resolve.call(this, `${request}.cjs`, ...rest);
  }
  return resolve.call(this, request, ...rest);
};

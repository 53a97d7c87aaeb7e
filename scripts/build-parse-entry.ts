/**
 * Prebuilds the parsing process's entry as plain JavaScript (src/documents/parse-entry.ts), so a
 * document's parsing process starts without compiling TypeScript. Run by `npm run setup` and the
 * image build; a worker also rebuilds a missing or stale one by itself.
 */
import { buildParseEntry } from '../src/documents/parse-entry';

buildParseEntry().then(
  (bundle) => console.log(`Parsing process prebuilt: ${bundle}`),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The parsing process's entry point as plain JavaScript. Started through tsx, every parsing
 * process spent ~0.2 s of CPU compiling TypeScript before it read a byte (measured with Node 24:
 * 210 ms per child, against ~60 ms for the same code prebuilt), and five uploads at once are five
 * such processes competing with the worker and Temporal for the cores. `buildParseEntry` bundles
 * parse-process.ts and what it imports from src/ into dist/ (packages stay in node_modules, which
 * dist/ resolves from); `npm run setup` and the image build run it, and a worker whose copy is
 * missing or stale builds a new one. A bundle is used only while every source it was built from is
 * byte-identical to the one on disk (the manifest records their hashes): a parser edited since can
 * never run as its old, possibly less bounded, self.
 */
const ROOT = path.join(__dirname, '../..');
const SOURCE = 'src/documents/parse-process.ts';
/** Where `npm run setup`, the image build and the workers keep the bundle. */
export const PARSE_ENTRY_DIR = path.join(ROOT, 'dist', 'parse-process');
const manifestPath = (dir: string) => path.join(dir, 'manifest.json');

interface Manifest {
  /** The bundle's file name beside the manifest; content-addressed, so a reader never sees a half-written one. */
  bundle: string;
  /** sha256 of every source file the bundle was built from, by path relative to the project root. */
  inputs: Record<string, string>;
}

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** Bundles the parsing process into `dir` and returns the bundle's path. */
export async function buildParseEntry(dir = PARSE_ENTRY_DIR): Promise<string> {
  const esbuild = await import('esbuild');
  // The same esbuild that tsx runs on; its build service is shared with tsx's and left running.
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [SOURCE],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    packages: 'external',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]!.contents;
  const inputs = Object.fromEntries(Object.keys(result.metafile.inputs).map((file) => [file, sha256(readFileSync(path.join(ROOT, file)))]));
  const bundle = `parse-process-${sha256(Buffer.from(code)).slice(0, 16)}.cjs`;
  mkdirSync(dir, { recursive: true });
  // Written under temporary names, then renamed: two workers building at once never leave a torn file.
  const temp = `.${process.pid}-${Date.now()}`;
  writeFileSync(path.join(dir, bundle + temp), code);
  renameSync(path.join(dir, bundle + temp), path.join(dir, bundle));
  writeFileSync(manifestPath(dir) + temp, JSON.stringify({ bundle, inputs } satisfies Manifest));
  renameSync(manifestPath(dir) + temp, manifestPath(dir));
  return path.join(dir, bundle);
}

/** The bundle, if one was built from the sources exactly as they are now; undefined otherwise. */
export function currentParseEntry(dir = PARSE_ENTRY_DIR): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(manifestPath(dir), 'utf8')) as Manifest;
    const inputs = Object.entries(manifest.inputs);
    if (!inputs.some(([file]) => file === SOURCE)) return undefined;
    for (const [file, hash] of inputs) if (sha256(readFileSync(path.join(ROOT, file))) !== hash) return undefined;
    const bundle = path.join(dir, path.basename(manifest.bundle));
    return statSync(bundle).isFile() ? bundle : undefined;
  } catch {
    return undefined;
  }
}

/** How a parsing process is started: the prebuilt bundle, or the TypeScript source through tsx. */
export interface ParseEntry {
  modulePath: string;
  execArgv: string[];
}

export const TSX_PARSE_ENTRY: ParseEntry = { modulePath: path.join(ROOT, SOURCE), execArgv: ['--import', 'tsx'] };

let resolved: ParseEntry | undefined;
let building: Promise<unknown> | undefined;

/**
 * The entry for the next parsing process. Checked once per worker process; while a missing or
 * stale bundle is being rebuilt (in the background, once), children start through tsx.
 */
export function parseEntry(): ParseEntry {
  if (resolved) return resolved;
  const bundle = currentParseEntry();
  if (bundle) return (resolved = { modulePath: bundle, execArgv: [] });
  building ??= buildParseEntry()
    .then((built) => (resolved = { modulePath: built, execArgv: [] }))
    // A read-only install without a bundle (an image built without it): tsx it stays.
    .catch(() => (resolved = TSX_PARSE_ENTRY));
  return TSX_PARSE_ENTRY;
}

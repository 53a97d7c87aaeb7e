import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export const HISTORIES_DIR = path.join(__dirname, '..', 'fixtures', 'histories');

const History = temporal.api.history.v1.History;

/*
 * Fixtures are protobufjs plain objects (enums by name, 64-bit ids as strings, bytes in base64),
 * not the SDK's `historyToJSON` form: in this dependency tree @temporalio/common and
 * @temporalio/proto each carry their own protobufjs, and its proto-JSON helpers reject the other
 * copy's types. `History.fromObject` reads them back into the History the replayer expects.
 */

/**
 * With KEEL_RECORD_HISTORIES=1, saves a finished execution's history as a replay fixture
 * (test/replay.test.ts replays every one with the current workflow code).
 */
export async function recordHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (process.env.KEEL_RECORD_HISTORIES !== '1') return;
  const history = History.fromObject(await handle.fetchHistory());
  const plain = History.toObject(history, { longs: String, enums: String, bytes: String });
  await writeFile(path.join(HISTORIES_DIR, `answer-${name}.json`), `${JSON.stringify(plain, null, 1)}\n`);
}

export function loadHistories(): Array<{ workflowId: string; history: temporal.api.history.v1.History }> {
  return readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({
      workflowId: file.replace(/\.json$/, ''),
      history: History.fromObject(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')) as Record<string, unknown>),
    }));
}

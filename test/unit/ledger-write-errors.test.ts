import assert from 'node:assert/strict';
import { isPermanentWriteError } from '../../src/activities/ledger';
import { Prisma } from '../../src/generated/prisma/client';
import pg from 'pg';

/** How @prisma/adapter-pg reports a raw statement's SQLSTATE (seen: a unique violation gives 23505 here). */
const sqlState = (originalCode: string) => ({ driverAdapterError: { name: 'DriverAdapterError', cause: { originalCode } } });
const known = (code: string, meta?: Record<string, unknown>) =>
  new Prisma.PrismaClientKnownRequestError(`failed with ${code}`, { code, clientVersion: 'test', ...(meta ? { meta } : {}) });
/** How `pg` reports it, for the statements src/db/raw.ts sends directly. */
const fromPg = (code: string) => Object.assign(new pg.DatabaseError(`failed with ${code}`, 0, 'error'), { code });

describe('ledger writes: which failures are weather and which are bugs', () => {
  it('waits out a lost connection, even when a raw statement reports it as P2010', () => {
    assert.equal(isPermanentWriteError(known('P2010', { message: 'Connection terminated unexpectedly' })), false);
    assert.equal(isPermanentWriteError(known('P2010', sqlState('08006'))), false);
    assert.equal(isPermanentWriteError(known('P2024')), false);
    assert.equal(isPermanentWriteError(new Error('connect ECONNREFUSED 127.0.0.1:5432')), false);
    assert.equal(isPermanentWriteError(new Error('Connection terminated unexpectedly')), false);
    assert.equal(isPermanentWriteError(fromPg('57P01')), false);
    assert.equal(isPermanentWriteError(fromPg('40001')), false);
  });

  it('fails at once on constraint, data and syntax errors', () => {
    assert.equal(isPermanentWriteError(known('P2002')), true);
    assert.equal(isPermanentWriteError(known('P2010', sqlState('23505'))), true);
    assert.equal(isPermanentWriteError(known('P2010', sqlState('22P02'))), true);
    assert.equal(isPermanentWriteError(known('P2010', sqlState('42703'))), true);
    assert.equal(isPermanentWriteError(fromPg('23505')), true);
    assert.equal(isPermanentWriteError(fromPg('22P02')), true);
  });
});

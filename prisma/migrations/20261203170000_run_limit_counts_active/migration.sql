-- keel_insert_run_within_quota counted a tenant's unfinished runs as `status <> ALL (terminal)`,
-- which the (tenant_id, status) index cannot narrow: every POST /v1/runs scanned every run the
-- tenant had ever made, under the tenant's lock, so starting a run got slower with each run before
-- it (docs/lean-orchestration.md, session 8). This one is handed the statuses that are not terminal
-- and counts `status = ANY (p_active)`: index ranges holding only the runs in flight.
-- Otherwise the same: lock, check the id, count, insert, in one round trip; exact under
-- concurrency (in READ COMMITTED each statement of a VOLATILE function takes a new snapshot, so the
-- count after the lock sees every run inserted by an earlier holder).
-- Returns 1 inserted, 0 the id (or the tenant's Idempotency-Key) already exists, -1 over the limit.
-- The old function stays for API processes of the previous release during a rolling deploy.
CREATE OR REPLACE FUNCTION keel_insert_run_within_limit(
  p_id TEXT, p_tenant_id UUID, p_limit INTEGER, p_active TEXT[],
  p_type TEXT, p_status TEXT, p_input JSONB, p_input_hash TEXT, p_options JSONB, p_model TEXT,
  p_idempotency_key TEXT, p_versions JSONB
) RETURNS INTEGER LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  inserted INTEGER;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('keel:runs:' || p_tenant_id::text, 0));
  IF EXISTS (SELECT 1 FROM run WHERE id = p_id) THEN
    RETURN 0;
  END IF;
  IF (SELECT count(*) FROM run WHERE tenant_id = p_tenant_id AND status = ANY (p_active)) >= p_limit THEN
    RETURN -1;
  END IF;
  INSERT INTO run (id, tenant_id, type, status, input, input_hash, options, model, idempotency_key, versions, updated_at)
  VALUES (p_id, p_tenant_id, p_type, p_status, p_input, p_input_hash, p_options, p_model, p_idempotency_key, p_versions, now())
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS inserted = ROW_COUNT;
  RETURN inserted;
END
$$;

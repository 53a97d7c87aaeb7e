-- Inserts a run unless its tenant already has `p_limit` unfinished runs (src/api/run-quota.ts).
-- One round trip instead of an interactive transaction: the per-tenant advisory lock is held for
-- the function's few statements, not across five network round trips. Exact under concurrency:
-- in READ COMMITTED each statement of a VOLATILE function takes a new snapshot, so the count after
-- the lock sees every run inserted by an earlier holder.
-- Returns 1 inserted, 0 the id (or the tenant's Idempotency-Key) already exists, -1 over the limit.
CREATE OR REPLACE FUNCTION keel_insert_run_within_quota(
  p_id TEXT, p_tenant_id UUID, p_limit INTEGER, p_terminal TEXT[],
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
  IF (SELECT count(*) FROM run WHERE tenant_id = p_tenant_id AND status <> ALL (p_terminal)) >= p_limit THEN
    RETURN -1;
  END IF;
  INSERT INTO run (id, tenant_id, type, status, input, input_hash, options, model, idempotency_key, versions, updated_at)
  VALUES (p_id, p_tenant_id, p_type, p_status, p_input, p_input_hash, p_options, p_model, p_idempotency_key, p_versions, now())
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS inserted = ROW_COUNT;
  RETURN inserted;
END
$$;

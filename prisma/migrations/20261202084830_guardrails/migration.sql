-- CreateTable
CREATE TABLE "guardrail_policy" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "policy" JSONB NOT NULL,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "guardrail_policy_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "run_vault" (
    "run_id" TEXT NOT NULL,
    "tenant_id" UUID NOT NULL,
    "api_key_id" UUID,
    "sealed" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "run_vault_pkey" PRIMARY KEY ("run_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "guardrail_policy_tenant_id_version_key" ON "guardrail_policy"("tenant_id", "version");

-- CreateIndex
CREATE INDEX "run_vault_tenant_id_idx" ON "run_vault"("tenant_id");

-- AddForeignKey
ALTER TABLE "guardrail_policy" ADD CONSTRAINT "guardrail_policy_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run_vault" ADD CONSTRAINT "run_vault_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

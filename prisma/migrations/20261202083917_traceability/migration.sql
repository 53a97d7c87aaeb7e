-- AlterTable
ALTER TABLE "run" ADD COLUMN     "versions" JSONB;

-- AlterTable
ALTER TABLE "run_step" ADD COLUMN     "lineage" JSONB;

-- CreateTable
CREATE TABLE "release_policy" (
    "tenant_id" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "candidate" JSONB NOT NULL,
    "percent" INTEGER NOT NULL,
    "actor" TEXT NOT NULL,
    "reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "release_policy_pkey" PRIMARY KEY ("tenant_id","version")
);

-- CreateTable
CREATE TABLE "evaluation" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "dataset" TEXT NOT NULL,
    "dataset_hash" TEXT NOT NULL,
    "versions" JSONB NOT NULL,
    "metrics" JSONB NOT NULL,
    "case_count" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "evaluation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "evaluation_case" (
    "evaluation_id" UUID NOT NULL,
    "case_id" TEXT NOT NULL,
    "run_id" TEXT,
    "status" TEXT NOT NULL,
    "passed" BOOLEAN NOT NULL,
    "scores" JSONB NOT NULL,
    "output" JSONB,
    "latency_ms" INTEGER,
    "cost_usd" DOUBLE PRECISION,

    CONSTRAINT "evaluation_case_pkey" PRIMARY KEY ("evaluation_id","case_id")
);

-- CreateIndex
CREATE INDEX "evaluation_tenant_id_created_at_idx" ON "evaluation"("tenant_id", "created_at" DESC);

-- AddForeignKey
ALTER TABLE "evaluation_case" ADD CONSTRAINT "evaluation_case_evaluation_id_fkey" FOREIGN KEY ("evaluation_id") REFERENCES "evaluation"("id") ON DELETE CASCADE ON UPDATE CASCADE;

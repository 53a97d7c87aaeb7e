-- CreateTable
CREATE TABLE "document" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "current_version_id" UUID,
    "error" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "document_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "document_version" (
    "id" UUID NOT NULL,
    "document_id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "sha256" TEXT NOT NULL,
    "object_key" TEXT NOT NULL,
    "media_type" TEXT NOT NULL,
    "size_bytes" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "page_count" INTEGER,
    "chunk_count" INTEGER,
    "ingest_run_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "document_version_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "document_page" (
    "version_id" UUID NOT NULL,
    "page" INTEGER NOT NULL,
    "text" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,

    CONSTRAINT "document_page_pkey" PRIMARY KEY ("version_id","page")
);

-- CreateTable
CREATE TABLE "chunk" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "document_id" UUID NOT NULL,
    "version_id" UUID NOT NULL,
    "ordinal" INTEGER NOT NULL,
    "page" INTEGER NOT NULL,
    "heading" TEXT,
    "text" TEXT NOT NULL,
    "token_count" INTEGER NOT NULL,
    "embedding" REAL[],
    "tsv" tsvector,

    CONSTRAINT "chunk_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "corpus_version" (
    "tenant_id" UUID NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "corpus_version_pkey" PRIMARY KEY ("tenant_id")
);

-- CreateTable
CREATE TABLE "extraction_schema" (
    "tenant_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "schema" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "extraction_schema_pkey" PRIMARY KEY ("tenant_id","name")
);

-- CreateIndex
CREATE INDEX "document_tenant_id_created_at_idx" ON "document"("tenant_id", "created_at" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "document_version_tenant_id_sha256_key" ON "document_version"("tenant_id", "sha256");

-- CreateIndex
CREATE UNIQUE INDEX "document_version_document_id_version_key" ON "document_version"("document_id", "version");

-- CreateIndex
CREATE INDEX "chunk_tenant_id_document_id_idx" ON "chunk"("tenant_id", "document_id");

-- CreateIndex
CREATE INDEX "chunk_tsv_idx" ON "chunk" USING GIN ("tsv");

-- CreateIndex
CREATE UNIQUE INDEX "chunk_version_id_ordinal_key" ON "chunk"("version_id", "ordinal");

-- AddForeignKey
ALTER TABLE "document" ADD CONSTRAINT "document_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "document_version" ADD CONSTRAINT "document_version_document_id_fkey" FOREIGN KEY ("document_id") REFERENCES "document"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "document_page" ADD CONSTRAINT "document_page_version_id_fkey" FOREIGN KEY ("version_id") REFERENCES "document_version"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "chunk" ADD CONSTRAINT "chunk_version_id_fkey" FOREIGN KEY ("version_id") REFERENCES "document_version"("id") ON DELETE CASCADE ON UPDATE CASCADE;

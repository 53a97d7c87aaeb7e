-- AlterTable
ALTER TABLE "chunk" ADD COLUMN     "embedding_model" TEXT;

-- AlterTable
ALTER TABLE "run" ADD COLUMN     "cache" JSONB;

-- AlterTable
ALTER TABLE "tenant" ADD COLUMN     "cache_enabled" BOOLEAN NOT NULL DEFAULT true,
ADD COLUMN     "cache_epoch" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "cache_similarity_threshold" DOUBLE PRECISION,
ADD COLUMN     "cache_ttl_seconds" INTEGER;

-- AlterTable
ALTER TABLE "run_step" ADD COLUMN     "output" JSONB;

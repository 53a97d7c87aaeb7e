-- AlterTable
ALTER TABLE "run" ADD COLUMN     "executions" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- AlterTable
ALTER TABLE "tenant" ADD COLUMN     "on_failure" TEXT NOT NULL DEFAULT 'fail';

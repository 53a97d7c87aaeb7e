import { defineConfig } from 'prisma/config';

// The CLI is used for `prisma generate` (offline) and, for users whose machines can reach
// Prisma's binaries, `prisma migrate deploy`. Keel applies the same migrations itself
// (scripts/migrate.ts) so set-up works offline.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/keel' },
});

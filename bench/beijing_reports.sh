#!/usr/bin/env bash
# Import the 12 Beijing PRSA files (../shared/data/beijing-prsa) into a fresh database,
# recompute all indicators and print the air reports of 2014, 2015 and 2016 for the city.
#
#   bench/beijing_reports.sh [DATABASE_NAME]      (default: envmon_beijing; it is recreated)
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and the project venv.
# Takes about 70 s on the 2-core development machine (import ~1 min, recompute of
# 12 stations x 1461 days ~10 s). Results of that run: docs/aggregator.md, "Measured".
set -euo pipefail
cd "$(dirname "$0")/.."
DB="${1:-envmon_beijing}"
DATA="${ENVMON_BEIJING_DATA:-../shared/data/beijing-prsa}"
export ENVMON_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/${DB}"
export ENVMON_STORAGE__BACKEND="${ENVMON_STORAGE__BACKEND:-auto}"
psql -q -h 127.0.0.1 -U postgres -d postgres \
  -c "DROP DATABASE IF EXISTS \"${DB}\" WITH (FORCE)" -c "CREATE DATABASE \"${DB}\""
python -m app db migrate
python -m app stations import bench/beijing-stations.toml
time python -m app import --mapping bench/beijing-prsa.toml "${DATA}"/PRSA_Data_*.csv.gz
time python -m app aggregate --once
for year in 2014 2015 2016; do
  python -m app report air --year "$year" --city Beijing --format json
done

#!/bin/sh
# Write a random value into each missing file of deploy/secrets/, the files
# compose.yaml mounts as secrets. Existing files are kept: changing the
# PostgreSQL or MinIO password here does not change it in their volumes.
set -eu

cd "$(dirname "$0")"
mkdir -p secrets
chmod 700 secrets

for name in secret_key postgres_password s3_secret_key minio_root_password metrics_token redis_password; do
    file="secrets/$name"
    if [ -s "$file" ]; then
        echo "kept $file"
        continue
    fi
    # 48 random bytes as URL-safe text: no quoting trouble in URLs or shells.
    head -c 48 /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_' > "$file"
    # The containers run as uid 10001 (postgres and MinIO as their own users)
    # and read the files through bind mounts; the 700 folder keeps other
    # users of this host out.
    chmod 644 "$file"
    echo "wrote $file"
done

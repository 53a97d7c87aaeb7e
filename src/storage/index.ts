import path from 'node:path';
import type { Config } from '../config';
import { LocalObjectStore } from './local';
import type { ObjectStore } from './object-store';
import { S3ObjectStore } from './s3';

export * from './object-store';

/** S3 when a bucket is configured, else a directory under KEEL_DATA_DIR. */
export function createObjectStore(config: Config): ObjectStore {
  if (config.KEEL_S3_BUCKET) {
    return new S3ObjectStore({
      bucket: config.KEEL_S3_BUCKET,
      region: config.KEEL_S3_REGION,
      endpoint: config.KEEL_S3_ENDPOINT,
      accessKeyId: config.KEEL_S3_ACCESS_KEY_ID,
      secretAccessKey: config.KEEL_S3_SECRET_ACCESS_KEY,
      forcePathStyle: config.KEEL_S3_FORCE_PATH_STYLE,
    });
  }
  return new LocalObjectStore(path.resolve(config.KEEL_DATA_DIR, 'objects'));
}

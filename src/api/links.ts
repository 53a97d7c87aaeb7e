import type { Config } from '../config';

/** Where a run lives: its API resource and its page in the Temporal Web UI. */
export function runLinks(config: Config, id: string): { self: string; temporalUi: string } {
  const path = `/v1/runs/${id}`;
  return {
    self: config.KEEL_PUBLIC_URL ? new URL(path, config.KEEL_PUBLIC_URL).toString() : path,
    temporalUi: `${config.TEMPORAL_UI_URL.replace(/\/$/, '')}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows/${encodeURIComponent(id)}`,
  };
}

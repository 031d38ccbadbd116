// Test support: a RouteConfig as the config loader would produce it (schema defaults applied).
import { configSchema, type RouteConfig } from '../../../config/schema.js';

export function makeRoute(route: Record<string, unknown> = {}): RouteConfig {
  const cfg = configSchema.parse({
    http: [{ name: 'l', listen: '127.0.0.1:0', routes: [{ name: 'r', upstream: 'http://127.0.0.1:1', ...route }] }],
  });
  return cfg.http[0]!.routes[0]!;
}

// Public entry of the demo panel (the `start` command loads it when `demo:` is configured).
export { startDemoPanel, type DemoPanel, type DemoPanelOptions } from './server.js';
export { DEMO_USERS, type DemoUserSpec, type UserType } from './store.js';
export { SESSION_COOKIE, IDENTITY_HEADER } from './context.js';

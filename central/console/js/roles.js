// Which views each role sees. This only hides what a role cannot use; the API
// enforces the same rules on every request.
export const ROLES = ['admin', 'property_manager', 'guard', 'police', 'grid_worker'];

const A = 'admin';
const P = 'property_manager';
const G = 'guard';
const PO = 'police';
const W = 'grid_worker';

// [route, nav group, module, roles]
export const ROUTES = [
  ['alerts', 'guard', 'alerts', [G, P, A]],
  ['devices', 'guard', 'devices', [G, P, A]],
  ['visitors', 'guard', 'visitors', [G, P, A]],
  ['siteplan', 'guard', 'siteplan', [G, P, PO, A]],
  ['dashboard', 'overview', 'dashboard', [P, PO, A]],
  ['persons', 'registry', 'registry', [P, A]],
  ['buildings', 'registry', 'registry', [P, A]],
  ['houses', 'registry', 'registry', [P, W, A]],
  ['households', 'registry', 'registry', [P, A]],
  ['units', 'registry', 'registry', [P, A]],
  ['enrol', 'registry', 'enrol', [P, A]],
  ['import', 'registry', 'imports', [P, A]],
  ['vehicles', 'registry', 'registry', [P, A]],
  ['zones', 'access', 'registry', [P, A]],
  ['cameras', 'access', 'registry', [P, A]],
  ['doors', 'access', 'registry', [P, A]],
  ['access-rules', 'access', 'registry', [P, A]],
  ['review', 'police', 'review', [PO, A]],
  ['trajectory', 'police', 'trajectory', [PO, A]],
  ['export', 'police', 'export', [PO, A]],
  ['tasks', 'police', 'registry', [PO, W, A]],
  ['users', 'admin', 'registry', [A]],
  ['sites', 'admin', 'registry', [A]],
  ['alert-rules', 'admin', 'registry', [A]],
  ['retention', 'admin', 'retention', [A]],
  ['audit', 'admin', 'audit', [A]],
];

export function routesFor(role) {
  return ROUTES.filter(([, , , roles]) => roles.includes(role));
}

export function canSee(role, route) {
  const r = ROUTES.find(([name]) => name === route);
  return !!r && r[3].includes(role);
}

export function homeFor(role) {
  return { guard: 'alerts', police: 'review', grid_worker: 'tasks', property_manager: 'dashboard', admin: 'dashboard' }[role] || 'siteplan';
}

/** Roles that receive the live alert feed (and its pop-ups). */
export function watchesAlerts(role) {
  return [G, P, A].includes(role);
}

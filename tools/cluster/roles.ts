// The kinds of process a cluster runs, named once.

/** The product's own processes: order (which runs the checkout sagas), stock and payment. */
export const SERVICE_ROLES = ['order', 'stock', 'payment'] as const
export type ServiceRole = (typeof SERVICE_ROLES)[number]

/** What they stand on, and what watches them (with --observe). */
export const INFRASTRUCTURE_ROLES = ['gateway', 'kafka', 'redis', 'sentinel', 'prometheus', 'exporter'] as const

export type Role = ServiceRole | (typeof INFRASTRUCTURE_ROLES)[number]

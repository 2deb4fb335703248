# The order, stock and payment services: one image, the service chosen by the command,
# `node dist/services/<service>/main.js` (deploy/docker-compose.yml and deploy/k8s set it).
# Built by `docker compose -f deploy/docker-compose.yml build` (context: the repository's root).

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# As on a developer's machine: npm ci also fetches the pinned Node runtime (the `node` dependency),
# which the build's npm scripts run.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY tools/copy-assets.mjs tools/copy-assets.mjs
COPY platform platform
COPY participant participant
COPY services services
# TypeScript, then the Lua scripts beside the JavaScript that loads them.
RUN npm run -s build

FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Runtime dependencies only; no install scripts: the `node` package's would fetch a second Node
# runtime, and this image runs its own (node:24).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/platform dist/platform
COPY --from=build /app/dist/participant dist/participant
COPY --from=build /app/dist/services dist/services
# The image's unprivileged user (uid 1000, which the Kubernetes manifests name).
USER node
CMD ["node", "dist/services/order/main.js"]

# One image for the governor and the settlement worker; the command picks which runs.
# Not built in this repository's CI: the build machine has no Docker engine.

FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
# What tsconfig.build.json compiles: the apps, the libraries, the bench and the test helpers it uses.
COPY apps ./apps
COPY libs ./libs
COPY bench ./bench
COPY chaos ./chaos
COPY test/support ./test/support
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev

FROM node:20.20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations
# The operators' console is built into dist/console. Read at run time beside dist/: the gRPC
# service definition, which the governor loads when GRPC_PORT is set (it looks for
# proto/paybound/v1/agent.proto in the folders above dist/apps/governor/grpc, so /app/proto).
COPY proto ./proto
USER node
# 8080: REST, /docs, /dashboard, /metrics. 9090: gRPC, when GRPC_PORT=9090.
EXPOSE 8080 9090
CMD ["node", "--max-semi-space-size=16", "dist/apps/governor/main.js"]

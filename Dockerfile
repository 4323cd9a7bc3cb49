# One image for the governor and the settlement worker; the command picks which runs.
# Not built in this repository's CI: the build machine has no Docker engine.

FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY apps ./apps
COPY libs ./libs
COPY bench ./bench
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
# The dashboard is served as static files from the source folder, as in development.
COPY --from=build /app/apps/governor/dashboard ./apps/governor/dashboard
USER node
EXPOSE 8080
CMD ["node", "--max-semi-space-size=16", "dist/apps/governor/main.js"]

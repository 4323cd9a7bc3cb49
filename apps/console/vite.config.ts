import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The operators' console: built into dist/console, which the governor serves under /dashboard
// with a strict Content-Security-Policy. Everything is bundled (no CDN), and nothing is inlined:
// the CSP allows only this origin's own scripts and styles.
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/dashboard/',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../../dist/console', import.meta.url)),
    emptyOutDir: true,
    // Inlined assets would be data: URLs; keep every file a file the controller serves.
    assetsInlineLimit: 0,
    // The preload polyfill would be injected as code; modern Chromium needs none.
    modulePreload: { polyfill: false },
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 400,
  },
});

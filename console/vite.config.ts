import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Served by Thoth at /console/ from memory; no CDN, no inline script (the CSP forbids it), hashed file names.
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No modulepreload polyfill: it would be the only script besides ours, and every target browser has it.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 800,
  },
  server: {
    // `npm run dev -w console` against a Thoth on :8080 (same origin through the proxy: the cookie works).
    proxy: { '^/(?!console/).*': 'http://127.0.0.1:8080' },
  },
});

// Builds the playground into dist/ with stable file names (no content hashes), so the
// committed output diffs cleanly and Tributary's embedded asset table stays small. Tributary
// puts a digest of the whole build in the asset URLs instead (see src/server/playground.rs),
// which is what makes long cache lifetimes safe.
import { defineConfig } from 'vite';

const output = {
  entryFileNames: 'assets/[name].js',
  chunkFileNames: 'assets/[name].js',
  assetFileNames: 'assets/[name][extname]',
};

export default defineConfig({
  // Relative URLs: the server decides where the assets live.
  base: './',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    // Monaco is large; one big chunk is fine for a local tool.
    chunkSizeWarningLimit: 8192,
    // Fonts and icons are files, never inlined data: URLs (CSP-friendly, cacheable).
    assetsInlineLimit: 0,
    rollupOptions: { output },
  },
  worker: {
    format: 'es',
    // Workers are bundled separately: prefix their chunks so no name collides with the page's.
    rollupOptions: {
      output: { ...output, chunkFileNames: 'assets/worker-[name].js' },
    },
  },
});

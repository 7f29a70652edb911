import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";

// Served by the gateway under /console/ (the assets are built into dist/ and committed, so a
// fresh clone's `fazhi dev` shows the console with no step of its own). `npm run dev` proxies
// the API to a running `fazhi dev` gateway (FAZHI_GATEWAY, by default 127.0.0.1:50052).
const gateway = process.env.FAZHI_GATEWAY ?? "http://127.0.0.1:50052";

export default defineConfig({
  base: "/console/",
  plugins: [vue()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: {
      "^/fazhi\\.": gateway,
      "/console/config.json": gateway,
    },
  },
});

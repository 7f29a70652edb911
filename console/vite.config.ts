import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";
import Components from "unplugin-vue-components/vite";
import { ElementPlusResolver } from "unplugin-vue-components/resolvers";

// Served by the gateway under /console/ (the assets are built into dist/ and committed, so a
// fresh clone's `fazhi dev` shows the console with no step of its own). `npm run dev` proxies
// the API to a running `fazhi dev` gateway (FAZHI_GATEWAY, by default 127.0.0.1:50052).
const gateway = process.env.FAZHI_GATEWAY ?? "http://127.0.0.1:50052";

export default defineConfig({
  base: "/console/",
  // Element Plus components and `v-loading` imported where a template uses them, not the whole
  // library (its stylesheet stays whole, in main.ts): the main chunk was 1.0 MB with all of it.
  plugins: [vue(), Components({ resolvers: [ElementPlusResolver({ importStyle: false, directives: true })], dts: false })],
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

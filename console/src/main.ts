import { createApp } from "vue";
import { provideGlobalConfig } from "element-plus";
import zhCn from "element-plus/es/locale/lang/zh-cn";
import "element-plus/dist/index.css";
import App from "./App.vue";
import { router } from "./router";

const app = createApp(App);
// What `app.use(ElementPlus, { locale })` did besides registering every component: the zh-CN
// texts for everything, dialogs opened from code included.
provideGlobalConfig({ locale: zhCn }, app, true);
app.use(router).mount("#app");

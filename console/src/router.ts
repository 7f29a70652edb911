import { createRouter, createWebHistory } from "vue-router";
import { hasRole, session } from "./session";

export const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes: [
    { path: "/login", component: () => import("./pages/SignIn.vue"), meta: { public: true } },
    { path: "/callback", component: () => import("./pages/SignInCallback.vue"), meta: { public: true } },
    { path: "/plans", component: () => import("./pages/PlanList.vue") },
    { path: "/plans/:plan", component: () => import("./pages/PlanDetail.vue"), props: true },
    { path: "/assignments", component: () => import("./pages/MyAssignments.vue") },
    { path: "/data-entry", component: () => import("./pages/DataEntry.vue") },
    { path: "/review", component: () => import("./pages/ReviewQueue.vue") },
    { path: "/assessment", component: () => import("./pages/Assessment.vue") },
    { path: "/overview", component: () => import("./pages/Overview.vue") },
    { path: "/supervision", component: () => import("./pages/Supervision.vue") },
    { path: "/my-scores", component: () => import("./pages/MyScores.vue") },
    { path: "/rectification", component: () => import("./pages/Rectification.vue") },
    { path: "/self-assessment", component: () => import("./pages/SelfAssessment.vue") },
    // Home by role, once signed in (the guard below runs first).
    {
      path: "/",
      component: { render: () => null },
      beforeEnter: () =>
        hasRole("admin", "coordinator") ? "/plans" : hasRole("viewer") ? "/overview" : "/assignments",
    },
    { path: "/:rest(.*)*", redirect: "/" },
  ],
});

router.beforeEach((to) => {
  if (!to.meta.public && !session.identity) return { path: "/login", query: { next: to.fullPath } };
  return true;
});

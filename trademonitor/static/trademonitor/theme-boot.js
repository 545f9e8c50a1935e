// Loaded in <head>, before the page is drawn: the remembered or preferred theme applies from
// the first paint (a module runs after it, so a dark page would first flash light).
// theme.js keeps it current; the key is theirs together.
document.documentElement.dataset.theme = localStorage.getItem("trademonitor.theme")
  ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");

// Light or dark: the system's preference until the visitor picks one, which is remembered.
// theme-boot.js sets the first one before the page is drawn.

const KEY = "trademonitor.theme";
const prefersDark = () => matchMedia("(prefers-color-scheme: dark)").matches;

export function currentTheme() {
  return document.documentElement.dataset.theme;
}

function apply(theme, button) {
  document.documentElement.dataset.theme = theme;
  button.setAttribute("aria-pressed", String(theme === "dark"));
  button.textContent = theme === "dark" ? "Light mode" : "Dark mode";
}

export function setUpTheme(button, onChange) {
  apply(currentTheme(), button);
  button.addEventListener("click", () => {
    const theme = currentTheme() === "dark" ? "light" : "dark";
    localStorage.setItem(KEY, theme);
    apply(theme, button);
    onChange(theme);
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (localStorage.getItem(KEY) === null) { apply(prefersDark() ? "dark" : "light", button); onChange(currentTheme()); }
  });
}

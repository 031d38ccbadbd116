// asciinema-player and its stylesheet, in a chunk of their own: loaded when a page first shows a
// player (its WebAssembly terminal is most of the app's weight), not with every page.
import 'asciinema-player/dist/bundle/asciinema-player.css';

export { create } from 'asciinema-player';

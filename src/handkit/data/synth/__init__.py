"""The synthetic hand world (docs/synth.md, specs/synth.md).

- `poses`: joint angles within limits, finger coupling, gestures, smooth "videos".
- `appearance`: skin, texture, light, backgrounds (procedural + scikit-image photos), occluders.
- `renderer`: numpy z-buffer rasterizer, shading, depth-buffer joint visibility.
- `scenes` / `multi`: one hand in a crop, video frames, two interacting hands, 2-4 hands.
- `writers` / `runner`: FreiHAND, InterHand2.6M, Hand100M and multi-hand layouts; `synthesize`.
"""

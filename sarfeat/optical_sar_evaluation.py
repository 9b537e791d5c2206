"""Registry table of the real optical-SAR pairs used for evaluation only (issue 21).

Three public repositories publish co-registered optical-SAR pairs with a known
mapping; sarfeat may measure itself on them but never trains, tunes or ships
them (:mod:`sarfeat.data` merges this table into its registry, so
:func:`sarfeat.data.fetch` verifies them like every other file):

- StaRainJ/Multi-modality-image-matching-database-metrics-methods (the data
  of Jiang et al., "A review of multimodal image matching", Information Fusion
  2021), folder ``Multimodal_Image_Matching_Datasets/RemoteSensing/SAR_Optical``:
  six MATLAB v5 files ``SO<k>.mat``, each with the SAR image (``I_fix``), the
  optical image (``I_move``), 20 hand-placed landmarks per image
  (``Landmarks.LMfix``, ``Landmarks.LMmov``) and a 3x3 projective ``T``. The
  repository has no licence.
- yeyuanxin110/CFOG (Ye et al., TGRS 2019): three optical (``*_ref``) / SAR
  (``*_sen``) pairs and their control points (``*_CP.txt``), published "for
  research purposes only". Only these data files are used; the method of that
  repository is patented and sarfeat neither reads nor implements its code.
- Xxin08/EOSS (the data of Xiong et al.'s Enhanced OSS matcher), folder
  ``dataset/OS``: optical (``Pair<k>_1.tif``) / SAR (``Pair<k>_2.tif``) pairs, one
  of the two turned and scaled about its centre from a 512 px co-registered pair,
  and the 3x3 similarity ``Gt<k>.txt`` between them: 21 of its 25 pairs (15, 23,
  24 and 25 fail the image check of ``benchmarks/README.md``). The repository has
  no licence.
- cloudtostreet/Sen1Floods11 (Bonafilia et al., CVPR Workshops 2020), folder
  ``sample``: its one sample chip, Spain_7370579, 512 x 512 pixels of about 10 m
  in south-east Spain: a Sentinel-1 IW GRD image (VV and VH in dB, float32;
  processed in Google Earth Engine, whose Sentinel-1 preprocessing, which the
  repository points to, includes terrain correction with SRTM) and a
  Sentinel-2 L1C image (13 bands) exported onto the same grid. The truth is the
  georeferencing itself, with a terrain-corrected SAR image: the one open
  Sentinel-1 / Sentinel-2 pair found whose truth no relief displaces
  (``benchmarks/optical_sar_pairs.py``, ``tiles='sen1floods11'``). The
  repository has no licence file (its README asks to cite the paper).
"""

from __future__ import annotations

SEN1FLOODS11_REPO = (
    "https://raw.githubusercontent.com/cloudtostreet/Sen1Floods11/"
    "b9e460dabe70230111a3c3d36cd0c5ce03606ee9/sample"
)
SEN1FLOODS11_LICENCE = (
    "no licence: evaluation only, never shipped (cloudtostreet/Sen1Floods11, the sample "
    "chip Spain_7370579 of Bonafilia et al., CVPR Workshops 2020; the repository has no "
    "licence file; contains modified Copernicus Sentinel data); never training or tuning data"
)
STARAINJ_REPO = (
    "https://raw.githubusercontent.com/StaRainJ/Multi-modality-image-matching-database-"
    "metrics-methods/ed2d5a4c8cc5b23297ecc598e2df1ab016422daa/"
    "Multimodal_Image_Matching_Datasets/RemoteSensing/SAR_Optical"
)
STARAINJ_LICENCE = (
    "no licence: evaluation only, never shipped (StaRainJ/Multi-modality-image-matching-"
    "database-metrics-methods, the SAR_Optical pairs of Jiang et al., Information Fusion "
    "2021; the repository has no licence file); never training or tuning data"
)
CFOG_REPO = (
    "https://raw.githubusercontent.com/yeyuanxin110/CFOG/"
    "bdae6ade539ad8de0951d384e08c97694756a5a0"
)
CFOG_LICENCE = (
    "research only: evaluation only, never shipped (yeyuanxin110/CFOG, data of Ye et al., "
    "TGRS 2019, 'provided for research purposes only, any commercial use is prohibited'); "
    "never training or tuning data; only the data files are used, never the patented method"
)
EOSS_REPO = (
    "https://raw.githubusercontent.com/Xxin08/EOSS/"
    "1a7bca92e1c8297e733a8ec63227a90099e14b52/dataset/OS"
)
EOSS_LICENCE = (
    "no licence: evaluation only, never shipped (Xxin08/EOSS, the optical-SAR pairs of "
    "Xiong et al.'s EOSS matcher; the repository has no licence file); never training or "
    "tuning data"
)

# name -> (sha256, bytes, path of the file in its repository below the pinned commit)
STARAINJ_FILES = {
    "optical_sar/starainj/SO1.mat": (
        "84d09720771d045eb0bac0389d69765e43e002418c609b40cb1c3c1e395fb698", 1113835),
    "optical_sar/starainj/SO2.mat": (
        "f0a74f5d84177fdd42324bf2f227f85ab9dd369206034626668b0465dbccf956", 1593318),
    "optical_sar/starainj/SO3.mat": (
        "778a38e16838f975ee1209fe3cf58353404e5a852599e982b1b5409ff9b29429", 1588215),
    "optical_sar/starainj/SO4.mat": (
        "ad454cd35a1b3f16b136922e885f3ce4505050e17982e71c3507bd3587f89d2e", 1312151),
    "optical_sar/starainj/SO5.mat": (
        "1f035270675573f75e44d08765aa01f3755cfeee3ae9e217b42a8720e5e49738", 1363716),
    "optical_sar/starainj/SO6.mat": (
        "259e942420a3104ff3b650fdf0a63b887c70a4a1b099a69c5e76c756d72b0657", 1285919),
}
CFOG_FILES = {
    "optical_sar/cfog/optical_ref.png": (
        "1ce6ecaf28fe91ec8386c8eecbf905b5d1a5443ffa6a2443c3c3a9274c4624f0", 678380,
        "data/optical_ref.png"),
    "optical_sar/cfog/SAR_sen.png": (
        "e56b91cf799033c2dc4ff34f7faeaf75cb5fad3b61625cfa2131d97f9a6a5e64", 235705,
        "data/SAR_sen.png"),
    "optical_sar/cfog/OpticaltoSAR_initialCP.txt": (
        "479635ac4ad5836b1fe58da34138094bbe7949afccf8cbd2694fd6099cd589dd", 4017,
        "data/OpticaltoSAR_initialCP.txt"),
    "optical_sar/cfog/visible1_ref.tif": (
        "b50d9a7ac581fdd8cb1673c0509f3578d4af7344a9dca8beccd960891db2c431", 362146,
        "other%20data/visible-SAR/visible1_ref.tif"),
    "optical_sar/cfog/SAR1_sen.tif": (
        "8d4e88e5e76165ce3fdd51256529540a84ec91564a5f821cde629b74e6ed2329", 362146,
        "other%20data/visible-SAR/SAR1_sen.tif"),
    "optical_sar/cfog/visibleToSAR1_CP.txt": (
        "445b98612421def1131b4df253909b12dfdb17b2972b09d7864705839e785bf9", 5945,
        "other%20data/visible-SAR/visibleToSAR1_CP.txt"),
    "optical_sar/cfog/visible2_ref.tif": (
        "07a1524bac6cdc74302874763075e3acdf0da0593d092597a8bf45449e40ef35", 3147104,
        "other%20data/visible-SAR/visible2_ref.tif"),
    "optical_sar/cfog/SAR2_sen.tif": (
        "55b419adbd23c528c1c7ea6b57e1e95749e562b810e2388f2dda88ed19e4a3f5", 393421,
        "other%20data/visible-SAR/SAR2_sen.tif"),
    "optical_sar/cfog/visibleToSAR2_CP.txt": (
        "ea0484ed66f739facd39d010864de85877843b8356fec53982dcb2e8b17690ff", 6888,
        "other%20data/visible-SAR/visibleToSAR2_CP.txt"),
}
# name -> (sha256, bytes); the file has the same name in EOSS_REPO
EOSS_FILES = {
    "optical_sar/eoss/Pair1_1.tif": (
        "0513daa33161fc56ac48faa29dc4647a6e4b742a9eb4f5e79968deecc6740177", 263444),
    "optical_sar/eoss/Pair1_2.tif": (
        "26c59e21a2295dfe5ee531c2775c0147c067a00d564637515ca0876c08ff54a8", 233964),
    "optical_sar/eoss/Gt1.txt": (
        "a2c1173faa63b0023c1db6fe98179ccd794873aabd6ba89e9189e8e665f9ee6c", 147),
    "optical_sar/eoss/Pair2_1.tif": (
        "d1df6b5cf2fd4ab1e75e2187892e1d75679492e6d51fb42c58ee0e70ccc148db", 109156),
    "optical_sar/eoss/Pair2_2.tif": (
        "53231ad2b5eecf75edc6a8d594507b2a02d7e7908a6a5b41429dc6181e59ef2e", 263916),
    "optical_sar/eoss/Gt2.txt": (
        "44558463cb2aa6309154f2d1f3eeb9bb40cb7fd3edaf83158405eb76dffc3ac3", 147),
    "optical_sar/eoss/Pair3_1.tif": (
        "534a5332527f4fa8c408ce3e59f818acc482177609ad503c6677cc64e7f647a5", 519966),
    "optical_sar/eoss/Pair3_2.tif": (
        "4f049e829b769783e4156ca73895a04984506670b3d518832c21630b915c303b", 263530),
    "optical_sar/eoss/Gt3.txt": (
        "bfe31ee7413f9c5fc07f358326c3461faaa999aade76467d2aca80a0c965954e", 147),
    "optical_sar/eoss/Pair4_1.tif": (
        "138a38b82aa6b4a3f88d6623f3f3c34212084b7ef155865f55edec459a0b54e5", 259506),
    "optical_sar/eoss/Pair4_2.tif": (
        "2c9860f98fb5855d343660bfc5a1cd8cd9e5092116fe0a009b9d00e4eb2857ef", 421494),
    "optical_sar/eoss/Gt4.txt": (
        "5b4a6df92fc3935a5137b220d43d7e024a84e3f71b133817b66d9bd405c78769", 147),
    "optical_sar/eoss/Pair5_1.tif": (
        "c1037ebdbbc3f3230115176f02f511adf97555c80551c9351598869784d81e91", 259282),
    "optical_sar/eoss/Pair5_2.tif": (
        "1aae64fe1f336c0a425834077323422b28d1ff3ce18b03d5c98190fe437ea04d", 430602),
    "optical_sar/eoss/Gt5.txt": (
        "d463541e7f66ac2d0dbffd2205f41516212f8b42ce70cfcdbe02041bf90ccb9c", 147),
    "optical_sar/eoss/Pair6_1.tif": (
        "eda2ebdd0478e485c30848db56e442908b28dc9db393f01a87e005c580660600", 259850),
    "optical_sar/eoss/Pair6_2.tif": (
        "a6823a2d6a1801bd3d03ad56aeaa044aa0c51f5284ec7eb6a7670bac4f6c7984", 81920),
    "optical_sar/eoss/Gt6.txt": (
        "f6eb5f80f0d4884aac614fbdc88580e43044bc82a542fba65d10d9ff00baedd6", 147),
    "optical_sar/eoss/Pair7_1.tif": (
        "4d85ced51fba2dd19777c73b6d52cbf1257d7a4f32cf5b4fde48d56f97f8e5b8", 172938),
    "optical_sar/eoss/Pair7_2.tif": (
        "00be81494068cc59e17a86355899dc37fa6aa6c04c620544a67aef43625fac90", 263604),
    "optical_sar/eoss/Gt7.txt": (
        "539b5386c104ea3d47978091a158347892da86f31390231e6b9275c1763fc95d", 147),
    "optical_sar/eoss/Pair8_1.tif": (
        "dd23da7c36230a65f2315ae0edeb3b8333f6d4e9d2c85c9abdcec08b90cf932b", 870110),
    "optical_sar/eoss/Pair8_2.tif": (
        "3d59713ec8141487346ba1aed488347102b3c6a0682ebd0d5923cc687639a830", 263916),
    "optical_sar/eoss/Gt8.txt": (
        "f3ac7b2fd0350e2beb0b098ccae39e099f9c276f63d585534036a379383565d3", 147),
    "optical_sar/eoss/Pair9_1.tif": (
        "84e2cdac73392d30b0aa98e460f528a0ff3c20904a38e5107c3d2ca43b05851d", 72078),
    "optical_sar/eoss/Pair9_2.tif": (
        "3daf410b021dd071f1c07cfa6f22899fcf88b9aafa91dd20c097c0223c668535", 264264),
    "optical_sar/eoss/Gt9.txt": (
        "86709e89d54250b4a163df831bbdd7b34488b6193cd70f289de1e0c20caa985f", 147),
    "optical_sar/eoss/Pair10_1.tif": (
        "f5b414df2622fdcd3d988d687c347526278262ef00780fb22755c26fb8608d80", 263460),
    "optical_sar/eoss/Pair10_2.tif": (
        "d79c34c0eea9436743c72346edff99e3be7726563dc600684f495481f5230103", 497090),
    "optical_sar/eoss/Gt10.txt": (
        "e95d08b07b9b59e9db2c107a94ba810cdf3d3ba6efc77046ae8beb7995892b1f", 147),
    "optical_sar/eoss/Pair11_1.tif": (
        "e15456a83d7b675296dbf4034420ca03d7adab0a43fec52f0a38353248b59ffd", 264196),
    "optical_sar/eoss/Pair11_2.tif": (
        "824d093bdd5ca2ad72135ecdece8c629d9906d0aff7e8ef1aaf26132c57e3c1d", 778776),
    "optical_sar/eoss/Gt11.txt": (
        "6bf3a87d799d393ae0fd66c5edb4ef8abadaedd69cec74b71eb50d25bdaa80d3", 147),
    "optical_sar/eoss/Pair12_1.tif": (
        "7dbc2a06f707e4a6e96e0096cd396cb1cb6809ffc339af99861886a876e33203", 263148),
    "optical_sar/eoss/Pair12_2.tif": (
        "0810f0994f2d854b32d422ecdcf8c3f2f86a76a4a4179d16ff03c8822129ad24", 131022),
    "optical_sar/eoss/Gt12.txt": (
        "40688f87cff5126e86082ac2b14a1bae0331a317f5e2cf6958e70dfb4ee50dfa", 147),
    "optical_sar/eoss/Pair13_1.tif": (
        "bcba2d56ab3e93199b6b1fc20bf69e7910f400bf72df98dd80fac76265441247", 262956),
    "optical_sar/eoss/Pair13_2.tif": (
        "1b55ecebcbcd65236d45c87df4320a08f6cd171100da1aaf0dd650320b8c74ec", 938750),
    "optical_sar/eoss/Gt13.txt": (
        "d8e5363e55976fdbc29f9672cd9ce22bf59f2beeeb1f0bb2d4bbb578edf360b1", 147),
    "optical_sar/eoss/Pair14_1.tif": (
        "c35372f5ebe2450bcc07d12c095a674b196727ba61e470288cb370c1af7139c1", 105324),
    "optical_sar/eoss/Pair14_2.tif": (
        "c174763f0bd9fad8540cde09d7a87b714aaeb575b9262f913bdc2a089b068ca1", 264196),
    "optical_sar/eoss/Gt14.txt": (
        "f65dee5bc51f0fd65de6db468f4d24e7a4120e5e4c6e1feba9793947d8a98415", 147),
    "optical_sar/eoss/Pair16_1.tif": (
        "04a576414e262901a8de1522aa971296dc6cd1bc3b4c27d645183d9e3d4fcbc0", 270612),
    "optical_sar/eoss/Pair16_2.tif": (
        "15e51c98691e01875d76ee6eed3e3fbce48705cbbeac0bcdc957419219816c5b", 263338),
    "optical_sar/eoss/Gt16.txt": (
        "f31f8a0217cd9b09d5b82cdd10253391cf828b979b70d094150a97a5fcce8954", 147),
    "optical_sar/eoss/Pair17_1.tif": (
        "f3853dfc6eb4eb8e1f0ab52b5dc988441ec69ecf3e4ea4fbdf62e95aaa2e7a4b", 261914),
    "optical_sar/eoss/Pair17_2.tif": (
        "3270f81b13f40c0af0847e801adbad1401f5cf318290d27c0460f68edb5f8847", 381278),
    "optical_sar/eoss/Gt17.txt": (
        "8fa6ad2803be00d65163721cf6779914ea8fad9f1a2482d907dd06f500f06943", 147),
    "optical_sar/eoss/Pair18_1.tif": (
        "a0e8a286fc9ea77810a2741bfc5c887079c1174b89e96bd2ea9ae38fc0251a1a", 259000),
    "optical_sar/eoss/Pair18_2.tif": (
        "f48fa61feb6ae31c7dd36b0b8578ce714eac52a977221ed7a84774f5a8dc7b9d", 150518),
    "optical_sar/eoss/Gt18.txt": (
        "6a895d64faeca745142b84a3941526cf5e791384343c46594910bb21d2cdffe0", 147),
    "optical_sar/eoss/Pair19_1.tif": (
        "7059b15a755cbe6a9f358676532a210df3f21c1594d05daf24d97bd3b2ccb8ef", 448704),
    "optical_sar/eoss/Pair19_2.tif": (
        "ed09768845fc6850910d0d5b7a6f428b15d84ab97c3b7a8d43d713db8e4408d6", 264114),
    "optical_sar/eoss/Gt19.txt": (
        "a0aafd175bb82fad6d7722725addccbbe175dceadaca0e1ce6771ccc9e71ba4d", 147),
    "optical_sar/eoss/Pair20_1.tif": (
        "9d75f65b4a6ccf9d4d9e81d88d76aaf83d671c085780130ba44662311211bce1", 263026),
    "optical_sar/eoss/Pair20_2.tif": (
        "0e81d97e0374080cebf05f9f76b2dd4386c01603f4774ed39877ecdc6beb6e6d", 107390),
    "optical_sar/eoss/Gt20.txt": (
        "f5dcdffe7c3b2c9789682b5eff9364770117dea846cd0376f244e89875562c13", 147),
    "optical_sar/eoss/Pair21_1.tif": (
        "4acf0b46c296e829e344a6c51f0789f375e438ac55a57b4686433587620865e9", 605898),
    "optical_sar/eoss/Pair21_2.tif": (
        "0f0233c1cf3590fc5d19c7c02c16dd250df11b62ead029eb2976502b2814b3c5", 264284),
    "optical_sar/eoss/Gt21.txt": (
        "b0be0fb18b2e3815c7284e1e0acda4d43bd8e78de0ecaa3a96fc99faafd2d56a", 147),
    "optical_sar/eoss/Pair22_1.tif": (
        "415b6c103858e2697f5f2735fe37e00f312449b1a1545f4d148ea9c6661b6d92", 262730),
    "optical_sar/eoss/Pair22_2.tif": (
        "669a547c0e56c9d310d86c892d6c72dc7c29ddd6ba45a3ec44335fb9eddc1ce0", 804122),
    "optical_sar/eoss/Gt22.txt": (
        "44192b17b76c94fae096c0cc0846bbaf6cd8ce2a9a737eadc66563b2705b7e45", 147),
}

# name -> (sha256, bytes, path under SEN1FLOODS11_REPO)
SEN1FLOODS11_FILES = {
    "optical_sar/sen1floods11/Spain_7370579_S1Hand.tif": (
        "6c24bf791372da5e93450195eac8d676a7ef917884dfb479dafe4a565543b19a", 1507705,
        "S1/Spain_7370579_S1Hand.tif"),
    "optical_sar/sen1floods11/Spain_7370579_S2Hand.tif": (
        "16e997e6a7159fa11160faf00591da763eb37ac82faf806f7fe733991944a048", 2320690,
        "S2/Spain_7370579_S2Hand.tif"),
}

#: name -> (sha256, bytes, pinned URL, licence) of every evaluation-only optical-SAR file.
EVALUATION_FILES = {
    **{name: (digest, size, f"{STARAINJ_REPO}/{name.rsplit('/', 1)[1]}", STARAINJ_LICENCE)
       for name, (digest, size) in STARAINJ_FILES.items()},
    **{name: (digest, size, f"{CFOG_REPO}/{path}", CFOG_LICENCE)
       for name, (digest, size, path) in CFOG_FILES.items()},
    **{name: (digest, size, f"{EOSS_REPO}/{name.rsplit('/', 1)[1]}", EOSS_LICENCE)
       for name, (digest, size) in EOSS_FILES.items()},
    **{name: (digest, size, f"{SEN1FLOODS11_REPO}/{path}", SEN1FLOODS11_LICENCE)
       for name, (digest, size, path) in SEN1FLOODS11_FILES.items()},
}
